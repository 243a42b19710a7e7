//! End-to-end tests: drive the real `vsm` binary against a real manager.
