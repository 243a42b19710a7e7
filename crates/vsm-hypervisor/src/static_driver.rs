//! The `static` driver: registered machines reached over SSH.
