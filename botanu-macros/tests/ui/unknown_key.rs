#[botanu_core::workflow(name = "Support", customer = org)]
fn handle(org: &str) -> usize {
    org.len()
}

fn main() {}
