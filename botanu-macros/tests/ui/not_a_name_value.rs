#[botanu_core::workflow("Support")]
fn handle() {}

fn main() {}
