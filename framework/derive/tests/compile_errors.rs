//! A struct the derive cannot read is a compile error that says why.

#[test]
fn bad_declarations_fail_to_compile_with_a_reason() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/fail/*.rs");
}
