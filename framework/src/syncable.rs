//! The [`Syncable`] trait an entity implements, and the registration record
//! it submits to the registry.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::decl::EntityDecl;
use crate::error::Error;
use crate::record::Record;

/// An entity that syncs: an ordinary serde struct plus its declaration.
///
/// Adding an entity means implementing this trait and submitting it with
/// [`register_entity!`](crate::register_entity); nothing else is edited.
///
/// # Contract
///
/// - The struct serialises to, and deserialises from, a JSON object whose
///   keys are exactly the wire names of [`DECL`](Self::DECL)'s fields,
///   common ones included (`id`, `deleted_at`, `deleted_by`, and
///   `created_at`/`updated_at` unless the entity versions by a field of
///   its own).
/// - [`validate`](Self::validate) holds the rules no type can express
///   (a vote count not below zero); it must not look anywhere but `self`.
pub trait Syncable: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The entity's declaration.
    const DECL: &'static EntityDecl;

    /// Checks the rules of the entity beyond field types; the message says
    /// which rule was broken.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// This record, type-erased.
    fn to_record(&self) -> Result<Record, Error> {
        let json = serde_json::to_value(self).map_err(|error| Error::Invalid {
            entity: Self::DECL.name,
            message: error.to_string(),
        })?;
        Record::from_json(Self::DECL, &json)
    }

    /// The typed record held by a type-erased one of this entity.
    fn from_record(record: &Record) -> Result<Self, Error> {
        if record.entity().name != Self::DECL.name {
            return Err(Error::Invalid {
                entity: Self::DECL.name,
                message: format!(
                    "a {} record is not a {}",
                    record.entity().name,
                    Self::DECL.name
                ),
            });
        }
        Self::deserialize(crate::record::RecordDeserializer { record }).map_err(|error| {
            Error::Invalid {
                entity: Self::DECL.name,
                message: error.to_string(),
            }
        })
    }
}

/// A decoded record of some entity, behind a pointer: what the registry's
/// type-erased decoder returns.
pub trait DynSyncable: erased_serde::Serialize + Send + Sync {
    /// The entity's declaration.
    fn decl(&self) -> &'static EntityDecl;
    /// The entity's own rules; see [`Syncable::validate`].
    fn validate(&self) -> Result<(), String>;
}

impl<T: Syncable> DynSyncable for T {
    fn decl(&self) -> &'static EntityDecl {
        T::DECL
    }
    fn validate(&self) -> Result<(), String> {
        Syncable::validate(self)
    }
}

erased_serde::serialize_trait_object!(DynSyncable);

/// Decodes a typed record through erased serde.
pub type DecodeFn = fn(
    &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Box<dyn DynSyncable>, erased_serde::Error>;

/// What an entity submits to the registry: its declaration and its
/// monomorphised decoder.
#[derive(Debug, Clone, Copy)]
pub struct EntityRegistration {
    /// The declaration.
    pub decl: &'static EntityDecl,
    /// Decodes a record of this entity.
    pub decode: DecodeFn,
}

impl EntityRegistration {
    /// The registration of `T`.
    pub const fn of<T: Syncable>() -> Self {
        EntityRegistration {
            decl: T::DECL,
            decode: decode_erased::<T>,
        }
    }
}

fn decode_erased<T: Syncable>(
    deserializer: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Box<dyn DynSyncable>, erased_serde::Error> {
    let typed: T = erased_serde::deserialize(deserializer)?;
    Ok(Box::new(typed))
}

inventory::collect!(EntityRegistration);

/// Submits an entity to the registry: `register_entity!(Voter);`.
#[macro_export]
macro_rules! register_entity {
    ($entity:ty) => {
        $crate::inventory::submit! {
            $crate::EntityRegistration::of::<$entity>()
        }
    };
}
