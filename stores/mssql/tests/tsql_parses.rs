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
            Parser::parse_sql(&MsSqlDialect {}, &standard_alter_column(statement))
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

/// sqlparser does not know T-SQL's `ALTER COLUMN c type [NOT] NULL`: the
/// statement is parsed with that clause in the standard spelling
/// (`ALTER COLUMN c SET DATA TYPE type`), and the nullability that was cut
/// off must be exactly `NULL` or `NOT NULL`.
fn standard_alter_column(statement: &str) -> String {
    let Some(at) = statement.find(" ALTER COLUMN ") else {
        return statement.to_owned();
    };
    let (head, clause) = statement.split_at(at + " ALTER COLUMN ".len());
    let mut words = clause.splitn(2, ' ');
    let (column, rest) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let data_type = rest
        .strip_suffix(" NOT NULL")
        .or_else(|| rest.strip_suffix(" NULL"))
        .filter(|data_type| *data_type != "NOT")
        .unwrap_or("<no type or no nullability>");
    format!("{head}{column} SET DATA TYPE {data_type}")
}

#[test]
fn an_alter_column_is_checked_in_its_standard_spelling() {
    for good in [
        "ALTER TABLE pens ALTER COLUMN town_name NVARCHAR(450) NOT NULL",
        "IF COL_LENGTH(N'pens', N'label') = -1 ALTER TABLE pens ALTER COLUMN label NVARCHAR(450) NULL",
    ] {
        assert!(Parser::parse_sql(&MsSqlDialect {}, &standard_alter_column(good)).is_ok(), "{good}");
    }
    for broken in [
        "ALTER TABLE pens ALTER COLUMN town_name NVARCHAR(450)",
        "ALTER TABLE pens ALTER COLUMN town_name NVARCHAR(450 NOT NULL",
        "ALTER TABLE pens ALTER COLUMN town_name NOT NULL",
    ] {
        assert!(
            Parser::parse_sql(&MsSqlDialect {}, &standard_alter_column(broken)).is_err(),
            "{broken}"
        );
    }
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
