#[botanu_core::workflow(event_id = id)]
fn handle(id: u64) -> u64 {
    id
}

fn main() {}
