//! Contract suite against the libvirt driver on test:///default.
