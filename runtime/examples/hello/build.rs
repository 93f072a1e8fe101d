//! Embeds `dist/` into the binary.

fn main() {
    if let Err(error) = millennium_build::embed_assets("dist") {
        eprintln!("error: {}", millennium_build::Report::new(&error));
        std::process::exit(1);
    }
}
