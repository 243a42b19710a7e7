//! Contract suite against the static driver over a loopback sshd.
