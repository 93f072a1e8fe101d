//! Embeds `dist/` into the binary.

fn main() {
    if let Err(error) = millennium_build::embed_assets("dist") {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
