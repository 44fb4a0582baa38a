//! Every T-SQL statement the SQL Server store can send parses with
//! sqlparser's `MsSqlDialect`. Runs always, with no server: a syntax error
//! in a statement shape cannot land unnoticed.

use jcselect_store_mssql::statements::all_statements;
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;

#[test]
fn every_statement_the_store_sends_parses_as_tsql() {
    let entities: Vec<_> = jcselect_entities::registry().unwrap().entities().collect();
    let statements = all_statements(&entities);
    assert!(
        statements.len() > 100,
        "expected every shape, got {}",
        statements.len()
    );
    let failures: Vec<String> = statements
        .iter()
        .filter_map(|statement| {
            Parser::parse_sql(&MsSqlDialect {}, statement)
                .err()
                .map(|error| format!("{error}\n    in: {statement}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} statements do not parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_parser_refuses_broken_tsql() {
    // the check above is only worth something if bad syntax fails it
    for broken in [
        "MERGE INTO voters AS target USING (VALUES (@P1) AS source (id) ON",
        "SELECT FROM WHERE",
        "INSERT INTO sync_log (a, b) VALUES (@P1, @P2",
    ] {
        assert!(
            Parser::parse_sql(&MsSqlDialect {}, broken).is_err(),
            "{broken}"
        );
    }
}
