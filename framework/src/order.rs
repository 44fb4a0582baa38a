//! Checks a set of entity declarations and derives their dependency order.
//!
//! Every entity gets a level: one more than the highest level among its
//! parents (self-references ignored), entities placed [`Placement::Last`]
//! after every other one. The order sorts by (level, name), so it does not
//! depend on registration order and ties are broken the same way on every
//! machine. For jcselect's seven entities this gives the seed's list.

use std::collections::{BTreeMap, BTreeSet};

use crate::decl::{EntityDecl, FieldType, Placement, ScopeDecl};
use crate::error::Error;

/// Checks every declaration and returns them parents-first.
pub fn dependency_order(decls: &[&'static EntityDecl]) -> Result<Vec<&'static EntityDecl>, Error> {
    let by_name = index_by_name(decls)?;
    for decl in decls {
        check_declaration(decl, &by_name)?;
    }
    let parents = |decl: &EntityDecl| -> BTreeSet<&'static str> {
        decl.all_references()
            .map(|reference| reference.parent)
            .filter(|parent| *parent != decl.name)
            .collect()
    };
    for decl in decls
        .iter()
        .filter(|decl| decl.placement == Placement::ByReferences)
    {
        if let Some(late) = parents(decl)
            .into_iter()
            .find(|parent| by_name[parent].placement == Placement::Last)
        {
            return Err(Error::BadDeclaration {
                entity: decl.name,
                problem: format!("references {late}, which is placed after every other entity"),
            });
        }
    }
    if let Some(cycle) = find_cycle(&by_name, &parents) {
        return Err(Error::Cycle { entities: cycle });
    }

    let mut levels: BTreeMap<&'static str, usize> = BTreeMap::new();
    for placement in [Placement::ByReferences, Placement::Last] {
        let floor = levels.values().map(|level| level + 1).max().unwrap_or(0);
        let group: Vec<_> = by_name
            .values()
            .filter(|decl| decl.placement == placement)
            .collect();
        // Acyclic, so repeated relaxation settles within `group.len()` rounds.
        for _ in 0..=group.len() {
            for decl in &group {
                let level = parents(decl)
                    .iter()
                    .filter_map(|parent| levels.get(parent).map(|level| level + 1))
                    .max()
                    .unwrap_or(0)
                    .max(floor);
                levels.insert(decl.name, level);
            }
        }
    }
    let mut ordered: Vec<&'static EntityDecl> = by_name.values().copied().collect();
    ordered.sort_by_key(|decl| (levels[decl.name], decl.name));
    Ok(ordered)
}

fn index_by_name(
    decls: &[&'static EntityDecl],
) -> Result<BTreeMap<&'static str, &'static EntityDecl>, Error> {
    let mut by_name = BTreeMap::new();
    let mut tables = BTreeSet::new();
    for decl in decls {
        if by_name.insert(decl.name, *decl).is_some() || !tables.insert(decl.table) {
            return Err(Error::DuplicateEntity {
                name: decl.name,
                table: decl.table,
            });
        }
    }
    Ok(by_name)
}

fn check_declaration(
    decl: &'static EntityDecl,
    by_name: &BTreeMap<&'static str, &'static EntityDecl>,
) -> Result<(), Error> {
    let bad = |problem: String| Error::BadDeclaration {
        entity: decl.name,
        problem,
    };
    let field_of_type = |name: &str, ty: FieldType, what: &str| -> Result<(), Error> {
        match decl.all_fields().find(|field| field.name == name) {
            Some(field) if field.ty == ty => Ok(()),
            Some(_) => Err(bad(format!("{what} `{name}` must be a {ty:?} field"))),
            None => Err(bad(format!("{what} names unknown field `{name}`"))),
        }
    };
    let mut seen = BTreeSet::new();
    for field in decl.all_fields() {
        if !seen.insert(field.name) {
            return Err(bad(format!("field `{}` is declared twice", field.name)));
        }
    }
    for reference in decl.all_references() {
        field_of_type(reference.field, FieldType::Uuid, "reference")?;
        if !by_name.contains_key(reference.parent) {
            return Err(bad(format!(
                "reference `{}` points at unknown entity {}",
                reference.field, reference.parent
            )));
        }
    }
    match decl.scope {
        ScopeDecl::Global => {}
        ScopeDecl::Field(field) => field_of_type(field, FieldType::Uuid, "scope field")?,
        ScopeDecl::Parent(field) => {
            if !decl
                .references
                .iter()
                .any(|reference| reference.field == field)
            {
                return Err(bad(format!(
                    "scope names `{field}`, which is not a reference"
                )));
            }
        }
        ScopeDecl::Own => {}
        ScopeDecl::Principal { username, role, .. } => {
            field_of_type(username, FieldType::Text, "principal's user name")?;
            field_of_type(role, FieldType::Text, "principal's role")?;
        }
        ScopeDecl::Named {
            entity_type,
            entity_id,
        } => {
            field_of_type(entity_type, FieldType::Text, "named scope's entity type")?;
            field_of_type(entity_id, FieldType::Uuid, "named scope's entity id")?;
        }
    }
    if let crate::decl::Versioning::OwnField(field) = decl.versioning {
        field_of_type(field, FieldType::Timestamp, "version field")?;
        if decl.all_fields().any(|f| f.name == field && f.nullable) {
            return Err(bad(format!("version field `{field}` must not be nullable")));
        }
    }
    for key in decl.natural_keys {
        if key.fields.is_empty() {
            return Err(bad("a natural key has no fields".into()));
        }
        for field in key.fields {
            if decl.field_index(field).is_none() {
                return Err(bad(format!("natural key names unknown field `{field}`")));
            }
        }
    }
    for field in decl.fields {
        if field.credential && field.ty != FieldType::Text {
            return Err(bad(format!("credential `{}` must be text", field.name)));
        }
        if !field.one_of.is_empty() && field.ty != FieldType::Text {
            return Err(bad(format!(
                "`{}` lists values but is not text",
                field.name
            )));
        }
        if field.min.is_some() && field.ty != FieldType::Int {
            return Err(bad(format!(
                "`{}` has a minimum but is not an integer",
                field.name
            )));
        }
    }
    for group in decl.monotonic {
        field_of_type(group.flag, FieldType::Bool, "monotonic flag")?;
        if group.mark.is_empty() {
            return Err(bad(format!(
                "monotonic flag `{}` has no mark fields",
                group.flag
            )));
        }
        for mark in group.mark {
            if decl.field_index(mark).is_none() {
                return Err(bad(format!("monotonic mark names unknown field `{mark}`")));
            }
        }
    }
    if let Some(owner) = decl.owner_field {
        field_of_type(owner, FieldType::Uuid, "owner field")?;
    }
    Ok(())
}

/// A cycle among the entities, as names with the first repeated at the end.
fn find_cycle(
    by_name: &BTreeMap<&'static str, &'static EntityDecl>,
    parents: &dyn Fn(&EntityDecl) -> BTreeSet<&'static str>,
) -> Option<Vec<&'static str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    fn visit(
        name: &'static str,
        by_name: &BTreeMap<&'static str, &'static EntityDecl>,
        parents: &dyn Fn(&EntityDecl) -> BTreeSet<&'static str>,
        marks: &mut BTreeMap<&'static str, Mark>,
        path: &mut Vec<&'static str>,
    ) -> Option<Vec<&'static str>> {
        marks.insert(name, Mark::OnPath);
        path.push(name);
        for parent in parents(by_name[name]) {
            match marks[parent] {
                Mark::OnPath => {
                    let start = path.iter().position(|step| *step == parent).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(parent);
                    return Some(cycle);
                }
                Mark::Unvisited => {
                    if let Some(cycle) = visit(parent, by_name, parents, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(name, Mark::Done);
        None
    }
    let mut marks: BTreeMap<&'static str, Mark> = by_name
        .keys()
        .map(|name| (*name, Mark::Unvisited))
        .collect();
    for name in by_name.keys() {
        if marks[name] == Mark::Unvisited {
            if let Some(cycle) = visit(name, by_name, parents, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}
