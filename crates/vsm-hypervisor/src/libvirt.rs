//! The `libvirt` driver: real VMs through the `virt` crate.
