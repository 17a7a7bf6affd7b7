//! How domain values are stored: enums as their wire names, money as exact decimals.

use rust_decimal::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AspectRatio, CameraMotion, JobKind, JobStatus, Language, Provider, SceneStatus, StoryStatus,
};

/// Stores a domain enum as its wire name in a string column.
macro_rules! string_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::String(Some(v.as_str().to_owned()))
            }
        }

        impl TryGetable for $ty {
            fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
                let s = String::try_get_by(res, idx)?;
                s.parse().map_err(|e: crate::domain::Invalid| {
                    TryGetError::DbErr(DbErr::Type(format!(
                        "{}: {e}", stringify!($ty)
                    )))
                })
            }
        }

        impl ValueType for $ty {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                let s = <String as ValueType>::try_from(v)?;
                s.parse().map_err(|_| ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($ty).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                ColumnType::String(sea_orm::sea_query::StringLen::None)
            }
        }

        impl Nullable for $ty {
            fn null() -> Value {
                Value::String(None)
            }
        }

        impl sea_orm::sea_query::postgres_array::NotU8 for $ty {}

        impl sea_orm::TryFromU64 for $ty {
            fn try_from_u64(_: u64) -> Result<Self, DbErr> {
                Err(DbErr::ConvertFromU64(stringify!($ty)))
            }
        }
    )+};
}

string_column!(
    StoryStatus,
    AspectRatio,
    Language,
    SceneStatus,
    CameraMotion,
    JobKind,
    JobStatus,
    Provider
);

/// An amount of money. Postgres keeps it in `NUMERIC(14,4)`; SQLite, which has no
/// exact decimal type, keeps its text. Either way it never passes through a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Four decimal places, as stored and as DRF renders a `DecimalField(decimal_places=4)`.
    pub fn new(mut d: Decimal) -> Self {
        d.rescale(4);
        Money(d)
    }
}

impl From<Money> for Value {
    fn from(m: Money) -> Value {
        Value::Decimal(Some(m.0))
    }
}

impl TryGetable for Money {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        // SQLite hands back the stored text; Postgres refuses text for NUMERIC, and its
        // exact decimal is read instead.
        if let Ok(text) = String::try_get_by(res, idx) {
            return text
                .parse::<Decimal>()
                .map(Money::new)
                .map_err(|e| TryGetError::DbErr(DbErr::Type(format!("money {text:?}: {e}"))));
        }
        Decimal::try_get_by(res, idx).map(Money::new)
    }
}

impl ValueType for Money {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::Decimal(Some(d)) => Ok(Money::new(d)),
            Value::String(Some(s)) => s.parse().map(Money::new).map_err(|_| ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "Money".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(Some((14, 4)))
    }
}

impl Nullable for Money {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl sea_orm::sea_query::postgres_array::NotU8 for Money {}
