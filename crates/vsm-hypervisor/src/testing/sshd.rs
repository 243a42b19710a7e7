//! A throwaway `sshd` on 127.0.0.1 with generated keys, stopped on drop (for tests).
