//! The `cgshim` command.
fn main() {
    println!("cgshim {}", env!("CARGO_PKG_VERSION"));
}
