//! Prints the candidates, parse trees and verdict for a gold and a predicted answer:
//! `cargo run -p answer --example explain -- GOLD PRED`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = answer::Options::default();
    for a in &args {
        println!("== {a}");
        for c in answer::extract(a, &opts.extract_options()).iter().take(5) {
            println!("  candidate p{} {:?}: {}", c.priority, c.source, c.text());
        }
        match answer::parse_answer(a, &opts) {
            Ok(p) => println!("  parsed: {}", p.expr),
            Err(t) => println!("  unparsed: {t:?}"),
        }
    }
    if args.len() == 2 {
        println!("{:?}", answer::check(&args[0], &args[1], &opts));
    }
}
