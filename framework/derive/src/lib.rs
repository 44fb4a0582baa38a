//! `#[derive(Syncable)]`: the struct is an entity's one declaration. Its
//! fields (after the common ones: `id`, `deleted_at`, `deleted_by`, and
//! `created_at`/`updated_at` unless the entity versions by a field of its
//! own) become the entity's [`FieldDecl`]s, typed from their Rust types
//! (`Uuid`, `String`, `i64`, `bool`, `Timestamp`, `serde_json::Value`;
//! `Option<…>` is nullable), with attributes for what a type cannot say.
//!
//! ```ignore
//! #[derive(Serialize, Deserialize, Syncable)]
//! #[sync(table = "voters", scope_field = pen_id, deleted_by = User,
//!        monotonic(has_voted, voted_at, voted_by_operator_id),
//!        natural_key_live(pen_id, voter_number))]
//! pub struct Voter {
//!     pub id: Uuid, pub created_at: Timestamp, pub updated_at: Timestamp,
//!     pub deleted_at: Option<Timestamp>, pub deleted_by: Option<Uuid>,
//!     #[sync(references = Pen, indexed)]
//!     pub pen_id: Uuid,
//!     …
//! }
//! ```
//!
//! Struct attributes: `table = "…"` (required), `entity = "…"` (default:
//! the struct's name), `deleted_by = Entity`, `scope = "global" | "own"`,
//! `scope_field = f`, `scope_parent = f`, `scope_named(type_field,
//! id_field)`, `scope_principal(username_field, role_field, "admin")`, `version = f` (versioned by its own field `f`: no
//! `created_at`/`updated_at`), `monotonic(flag, mark…)`, `natural_key(f…)`,
//! `natural_key_live(f…)`, `owner = f`, `placement_last`, `append_only`,
//! `validate = path::to::fn`, `formerly = "old_table"` (the table of an
//! earlier schema version, copied at upgrade). Field attributes: `references = Entity`,
//! `indexed`, `searchable`, `unique`, `credential`, `one_of("a", "b")`, `min = n`,
//! `text` (a type serialised as a string, such as an enum), `stored_upper`,
//! `upgrade_default = "'literal'"` (what rows of an older table take),
//! `formerly = "old_name"` (the field's name in an earlier schema version,
//! renamed at upgrade).
//!
//! [`FieldDecl`]: https://docs.rs/jcselect-sync

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, ToTokens};
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitStr, Path, Token, Type};

/// Derives `jcselect_sync::Syncable` from the struct; see the crate docs.
#[proc_macro_derive(Syncable, attributes(sync))]
pub fn derive_syncable(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The fields every record carries, not declared by the entity.
const IDENTITY: [&str; 3] = ["id", "deleted_at", "deleted_by"];
const STAMPS: [&str; 2] = ["created_at", "updated_at"];

#[derive(Default)]
struct EntityAttrs {
    table: Option<LitStr>,
    entity: Option<LitStr>,
    deleted_by: Option<Ident>,
    scope: Option<Tokens>,
    version: Option<Ident>,
    monotonic: Vec<(Ident, Vec<Ident>)>,
    natural_keys: Vec<(bool, Vec<Ident>)>,
    owner: Option<Ident>,
    placement_last: bool,
    append_only: bool,
    validate: Option<Path>,
    formerly: Option<LitStr>,
}

#[derive(Default)]
struct FieldAttrs {
    references: Option<Ident>,
    indexed: bool,
    searchable: bool,
    unique: bool,
    credential: bool,
    one_of: Vec<LitStr>,
    min: Option<Expr>,
    text: bool,
    stored_upper: bool,
    upgrade_default: Option<LitStr>,
    formerly: Option<LitStr>,
}

fn idents(input: ParseStream) -> syn::Result<Vec<Ident>> {
    Ok(Punctuated::<Ident, Token![,]>::parse_terminated(input)?
        .into_iter()
        .collect())
}

/// Calls `each` with the name and the meta of every `#[sync(…)]` item.
fn each_sync_meta(
    attrs: &[syn::Attribute],
    mut each: impl FnMut(&str, syn::meta::ParseNestedMeta) -> syn::Result<()>,
) -> syn::Result<()> {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("sync")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            each(&key, meta)
        })?;
    }
    Ok(())
}

fn entity_attrs(input: &DeriveInput) -> syn::Result<EntityAttrs> {
    let mut attrs = EntityAttrs::default();
    each_sync_meta(&input.attrs, |key, meta| {
        match key {
            "table" => attrs.table = Some(meta.value()?.parse()?),
            "entity" => attrs.entity = Some(meta.value()?.parse()?),
            "deleted_by" => attrs.deleted_by = Some(meta.value()?.parse()?),
            "version" => attrs.version = Some(meta.value()?.parse()?),
            "owner" => attrs.owner = Some(meta.value()?.parse()?),
            "validate" => attrs.validate = Some(meta.value()?.parse()?),
            "formerly" => attrs.formerly = Some(meta.value()?.parse()?),
            "placement_last" => attrs.placement_last = true,
            "append_only" => attrs.append_only = true,
            "scope" => {
                let kind: LitStr = meta.value()?.parse()?;
                attrs.scope = Some(match kind.value().as_str() {
                        "global" => quote!(::jcselect_sync::ScopeDecl::Global),
                        "own" => quote!(::jcselect_sync::ScopeDecl::Own),
                        _ => return Err(meta.error("scope is \"global\" or \"own\" (or scope_field, scope_parent, scope_named, scope_principal)")),
                    });
            }
            "scope_field" => {
                let field = meta.value()?.parse::<Ident>()?.to_string();
                attrs.scope = Some(quote!(::jcselect_sync::ScopeDecl::Field(#field)));
            }
            "scope_parent" => {
                let field = meta.value()?.parse::<Ident>()?.to_string();
                attrs.scope = Some(quote!(::jcselect_sync::ScopeDecl::Parent(#field)));
            }
            "scope_principal" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let username: Ident = content.parse()?;
                content.parse::<Token![,]>()?;
                let role: Ident = content.parse()?;
                content.parse::<Token![,]>()?;
                let admin: LitStr = content.parse()?;
                let (username, role) = (username.to_string(), role.to_string());
                attrs.scope = Some(quote!(::jcselect_sync::ScopeDecl::Principal {
                    username: #username,
                    role: #role,
                    admin: #admin,
                }));
            }
            "scope_named" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let names = idents(&content)?;
                let [entity_type, entity_id] = names.as_slice() else {
                    return Err(meta.error("scope_named(type_field, id_field)"));
                };
                let (entity_type, entity_id) = (entity_type.to_string(), entity_id.to_string());
                attrs.scope = Some(quote!(::jcselect_sync::ScopeDecl::Named {
                    entity_type: #entity_type,
                    entity_id: #entity_id,
                }));
            }
            "monotonic" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let mut names = idents(&content)?.into_iter();
                let flag = names
                    .next()
                    .ok_or_else(|| meta.error("monotonic(flag, mark…)"))?;
                attrs.monotonic.push((flag, names.collect()));
            }
            "natural_key" | "natural_key_live" => {
                let content;
                syn::parenthesized!(content in meta.input);
                attrs
                    .natural_keys
                    .push((key == "natural_key_live", idents(&content)?));
            }
            _ => return Err(meta.error(format!("unknown entity attribute `{key}`"))),
        }
        Ok(())
    })?;
    Ok(attrs)
}

fn field_attrs(field: &syn::Field) -> syn::Result<FieldAttrs> {
    let mut attrs = FieldAttrs::default();
    each_sync_meta(&field.attrs, |key, meta| {
        match key {
            "references" => attrs.references = Some(meta.value()?.parse()?),
            "indexed" => attrs.indexed = true,
            "searchable" => attrs.searchable = true,
            "unique" => attrs.unique = true,
            "credential" => attrs.credential = true,
            "text" => attrs.text = true,
            "stored_upper" => attrs.stored_upper = true,
            "upgrade_default" => attrs.upgrade_default = Some(meta.value()?.parse()?),
            "formerly" => attrs.formerly = Some(meta.value()?.parse()?),
            "min" => attrs.min = Some(meta.value()?.parse()?),
            "one_of" => {
                let content;
                syn::parenthesized!(content in meta.input);
                attrs.one_of = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
                    .into_iter()
                    .collect();
            }
            _ => return Err(meta.error(format!("unknown field attribute `{key}`"))),
        }
        Ok(())
    })?;
    Ok(attrs)
}

/// The type inside `Option<…>`, if `ty` is one.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// The field type a Rust type travels as.
fn field_type(ty: &Type, attrs: &FieldAttrs) -> syn::Result<Tokens> {
    if attrs.text || !attrs.one_of.is_empty() {
        return Ok(quote!(::jcselect_sync::FieldType::Text));
    }
    let name = match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let variant = match name.as_str() {
        "Uuid" => "Uuid",
        "String" => "Text",
        "i64" | "i32" | "i16" | "u32" | "u16" | "u8" => "Int",
        "bool" => "Bool",
        "Timestamp" => "Timestamp",
        "Value" => "Json",
        _ => {
            return Err(syn::Error::new_spanned(
                ty,
                "no field type for this Rust type: use Uuid, String, i64, bool, Timestamp, serde_json::Value, or mark it #[sync(text)]",
            ))
        }
    };
    let variant = Ident::new(variant, proc_macro2::Span::call_site());
    Ok(quote!(::jcselect_sync::FieldType::#variant))
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "Syncable is derived for structs",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "Syncable needs named fields",
        ));
    };
    let attrs = entity_attrs(input)?;
    let ident = &input.ident;
    let table = attrs.table.clone().ok_or_else(|| {
        syn::Error::new_spanned(ident, "#[sync(table = \"…\")] names the entity's table")
    })?;
    let entity = attrs
        .entity
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));

    let names: Vec<String> = named
        .named
        .iter()
        .filter_map(|field| field.ident.as_ref().map(Ident::to_string))
        .collect();
    let common: Vec<&str> = match attrs.version {
        Some(_) => IDENTITY.to_vec(),
        None => IDENTITY.iter().chain(STAMPS.iter()).copied().collect(),
    };
    for required in &common {
        if !names.iter().any(|name| name == required) {
            return Err(syn::Error::new_spanned(
                ident,
                format!("a syncable struct has a `{required}` field"),
            ));
        }
    }
    if attrs.version.is_some() {
        for stamp in STAMPS {
            if names.iter().any(|name| name == stamp) {
                return Err(syn::Error::new_spanned(
                    ident,
                    format!("an entity versioned by its own field has no `{stamp}`"),
                ));
            }
        }
    }

    let mut fields = Vec::new();
    let mut references = Vec::new();
    for field in &named.named {
        let name = field.ident.as_ref().expect("named").to_string();
        let field_attrs = field_attrs(field)?;
        if common.contains(&name.as_str()) {
            continue;
        }
        let (ty, nullable) = match option_inner(&field.ty) {
            Some(inner) => (inner, true),
            None => (&field.ty, false),
        };
        let field_type = field_type(ty, &field_attrs)?;
        let mut decl = quote!(::jcselect_sync::FieldDecl::new(#name, #field_type));
        if nullable {
            decl = quote!(#decl.nullable());
        }
        if field_attrs.unique {
            decl = quote!(#decl.unique());
        }
        if field_attrs.indexed {
            decl = quote!(#decl.indexed());
        }
        if field_attrs.searchable {
            decl = quote!(#decl.searchable());
        }
        if field_attrs.credential {
            decl = quote!(#decl.credential());
        }
        if !field_attrs.one_of.is_empty() {
            let values = &field_attrs.one_of;
            decl = quote!(#decl.one_of(&[#(#values),*]));
        }
        if let Some(min) = &field_attrs.min {
            decl = quote!(#decl.min(#min));
        }
        if field_attrs.stored_upper {
            decl = quote!(#decl.stored_upper());
        }
        if let Some(literal) = &field_attrs.upgrade_default {
            decl = quote!(#decl.upgrade_default(#literal));
        }
        if let Some(former) = &field_attrs.formerly {
            decl = quote!(#decl.formerly(#former));
        }
        fields.push(decl);
        if let Some(parent) = &field_attrs.references {
            let parent = parent.to_string();
            references
                .push(quote!(::jcselect_sync::ReferenceDecl { field: #name, parent: #parent }));
        }
    }

    let field_name = |ident: &Ident| -> syn::Result<String> {
        let name = ident.to_string();
        if names.contains(&name) {
            Ok(name)
        } else {
            Err(syn::Error::new_spanned(ident, format!("no field `{name}`")))
        }
    };
    let versioning = match &attrs.version {
        Some(field) => {
            let field = field_name(field)?;
            quote!(::jcselect_sync::Versioning::OwnField(#field))
        }
        None => quote!(::jcselect_sync::Versioning::Stamped),
    };
    let mut monotonic = Vec::new();
    for (flag, mark) in &attrs.monotonic {
        let flag = field_name(flag)?;
        let mark = mark
            .iter()
            .map(field_name)
            .collect::<syn::Result<Vec<_>>>()?;
        monotonic.push(quote!(::jcselect_sync::MonotonicDecl { flag: #flag, mark: &[#(#mark),*] }));
    }
    let mut natural_keys = Vec::new();
    for (live_only, key) in &attrs.natural_keys {
        let key = key
            .iter()
            .map(field_name)
            .collect::<syn::Result<Vec<_>>>()?;
        natural_keys.push(
            quote!(::jcselect_sync::NaturalKey { fields: &[#(#key),*], live_only: #live_only }),
        );
    }
    let deleted_by = match &attrs.deleted_by {
        Some(parent) => {
            let parent = parent.to_string();
            quote!(Some(#parent))
        }
        None => quote!(None),
    };
    let scope = attrs
        .scope
        .clone()
        .unwrap_or_else(|| quote!(::jcselect_sync::ScopeDecl::Global));
    let placement = if attrs.placement_last {
        quote!(::jcselect_sync::Placement::Last)
    } else {
        quote!(::jcselect_sync::Placement::ByReferences)
    };
    let append_only = attrs.append_only;
    let owner = match &attrs.owner {
        Some(field) => {
            let field = field_name(field)?;
            quote!(Some(#field))
        }
        None => quote!(None),
    };
    let validate = attrs.validate.as_ref().map(|path| {
        let path = path.to_token_stream();
        quote! {
            fn validate(&self) -> ::core::result::Result<(), ::std::string::String> {
                #path(self)
            }
        }
    });
    let formerly = match &attrs.formerly {
        Some(table) => quote!(Some(#table)),
        None => quote!(None),
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::jcselect_sync::Syncable for #ident #ty_generics #where_clause {
            const DECL: &'static ::jcselect_sync::EntityDecl = &::jcselect_sync::EntityDecl {
                fields: &[#(#fields),*],
                versioning: #versioning,
                natural_keys: &[#(#natural_keys),*],
                references: &[#(#references),*],
                deleted_by: #deleted_by,
                scope: #scope,
                monotonic: &[#(#monotonic),*],
                placement: #placement,
                append_only: #append_only,
                owner_field: #owner,
                formerly: #formerly,
                ..::jcselect_sync::EntityDecl::new(#entity, #table)
            };
            #validate
        }
    })
}
