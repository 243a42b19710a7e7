//! `vsm`: the command line of the virtual server manager.

fn main() {
    println!("vsm");
}
