//! Compile errors of `#[workflow]` are clear (trybuild).

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
