fn main() {
    use std::mem::size_of;
    println!(
        "Value {} Entry {} Cell {} Version {} List {} Hll {} ZSet {} OrSet {}",
        size_of::<crdt::Value>(),
        size_of::<crdt::Entry>(),
        size_of::<crdt::Cell>(),
        size_of::<crdt::cell::Version>(),
        size_of::<crdt::list::List>(),
        size_of::<crdt::hll::Hll>(),
        size_of::<crdt::ZSet>(),
        size_of::<crdt::OrSet>()
    );
}
