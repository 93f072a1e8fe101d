//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files, and Cargo does not know it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
