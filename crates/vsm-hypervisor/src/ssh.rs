//! SSH client plumbing (OpenSSH `ssh`/`scp`, key-based, BatchMode) shared by the static driver and the deploy ssh transport.
