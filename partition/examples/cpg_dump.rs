//! Prints the CPG facts of one Elixir file in the fixture snapshot format: a
//! debugging aid for work on the front end.
//!
//! `cargo run -p partition --example cpg_dump -- FILE [calls]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: cpg_dump FILE [calls]")?;
    let bytes = std::fs::read(&path)?;
    let cpg = partition::frontend::build_file(&path, &bytes);
    let sections = match std::env::args().nth(2).as_deref() {
        Some("calls") => partition::snapshot::Sections::CALLS,
        _ => partition::snapshot::Sections::ALL,
    };
    print!("{}", partition::snapshot::render_file(&cpg, sections));
    Ok(())
}
