//! Integration tests of vsm-jp1: delivery through a stand-in `jevsend` script and the trap log.
#![allow(clippy::unwrap_used)]

mod outbox;
