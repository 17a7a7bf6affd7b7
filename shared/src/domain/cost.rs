//! The seed's cost estimate, in decimals.
//!
//! images = scenes × cost_per_image; video = seconds × cost_per_second_video;
//! preview = video × 0.5; storage = 0.10; total = the sum.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Invalid;

/// Unit prices of the providers a story uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderRates {
    pub cost_per_image: Decimal,
    pub cost_per_second_video: Decimal,
}

impl ProviderRates {
    /// The highest unit price a provider may be given.
    pub const MAX: u32 = 1_000_000;

    /// A unit price as written in JSON: a decimal string such as `"0.0200"`, with
    /// no sign, exponent or leading zero, at most four decimal places and at most
    /// [`ProviderRates::MAX`].
    pub fn parse_price(s: &str) -> Result<Decimal, Invalid> {
        let refused = || {
            Invalid::new(format!(
                "must be a decimal string from \"0\" to \"{}\" with at most {} decimal places, such as \"0.0200\"",
                Self::MAX,
                CostEstimate::SCALE
            ))
        };
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole)
            || !digits(fraction)
            || fraction.len() > CostEstimate::SCALE as usize
            || (whole.len() > 1 && whole.starts_with('0'))
            || whole.len() > 7
        {
            return Err(refused());
        }
        let price: Decimal = s.parse().map_err(|_| refused())?;
        if price > Decimal::from(Self::MAX) {
            return Err(refused());
        }
        Ok(price)
    }
}

/// The estimate shown to the owner before any money is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostEstimate {
    #[schema(value_type = String, example = "0.0600")]
    pub images: Decimal,
    #[schema(value_type = String, example = "1.0500")]
    pub video: Decimal,
    #[schema(value_type = String, example = "0.5250")]
    pub preview: Decimal,
    #[schema(value_type = String, example = "0.1000")]
    pub storage: Decimal,
    #[schema(value_type = String, example = "1.7350")]
    pub total: Decimal,
}

impl CostEstimate {
    /// Flat storage charge per story.
    pub const STORAGE: Decimal = Decimal::from_parts(10, 0, 0, false, 2);
    /// Decimal places kept in the database and in JSON.
    pub const SCALE: u32 = 4;

    /// `image_rates` prices the keyframes, `video_rates` the clips.
    pub fn new(
        scene_count: u32,
        video_seconds: u32,
        image_rates: ProviderRates,
        video_rates: ProviderRates,
    ) -> Self {
        let images = Decimal::from(scene_count) * image_rates.cost_per_image;
        let video = Decimal::from(video_seconds) * video_rates.cost_per_second_video;
        let preview = video * Decimal::new(5, 1);
        let storage = Self::STORAGE;
        let total = images + video + preview + storage;
        let r = |mut d: Decimal| {
            d.rescale(Self::SCALE);
            d
        };
        Self {
            images: r(images),
            video: r(video),
            preview: r(preview),
            storage: r(storage),
            total: r(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn unit_prices_are_plain_decimal_strings() {
        for (text, price) in [
            ("0", dec!(0)),
            ("0.02", dec!(0.02)),
            ("0.0200", dec!(0.02)),
            ("12", dec!(12)),
            ("1000000", dec!(1000000)),
            ("1000000.0000", dec!(1000000)),
        ] {
            assert_eq!(ProviderRates::parse_price(text), Ok(price), "{text}");
        }
        for text in [
            "",
            ".5",
            "1.",
            "-1",
            "+1",
            "1e3",
            "01",
            "0.00001",
            "1000000.0001",
            "9999999",
            "12345678",
            " 1",
            "1,5",
            "NaN",
        ] {
            assert!(ProviderRates::parse_price(text).is_err(), "{text}");
        }
    }

    const STABILITY: ProviderRates = ProviderRates {
        cost_per_image: dec!(0.02),
        cost_per_second_video: dec!(0.05),
    };
    const RUNWAY: ProviderRates = ProviderRates {
        cost_per_image: dec!(0.03),
        cost_per_second_video: dec!(0.08),
    };

    #[test]
    fn the_seed_formula() {
        let e = CostEstimate::new(3, 21, STABILITY, RUNWAY);
        assert_eq!(e.images, dec!(0.06));
        assert_eq!(e.video, dec!(1.68));
        assert_eq!(e.preview, dec!(0.84));
        assert_eq!(e.storage, dec!(0.10));
        assert_eq!(e.total, dec!(2.68));
        assert_eq!(e.total, e.images + e.video + e.preview + e.storage);
    }

    #[test]
    fn decimals_do_not_drift_like_floats() {
        let rates = ProviderRates {
            cost_per_image: dec!(0.1),
            cost_per_second_video: dec!(0.1),
        };
        let e = CostEstimate::new(3, 3, rates, rates);
        assert_eq!(e.images, dec!(0.3));
        assert_eq!(e.total, dec!(0.3) + dec!(0.3) + dec!(0.15) + dec!(0.10));
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["total"], "0.8500", "four places, as DRF renders them");
    }

    #[test]
    fn a_free_provider_costs_only_storage() {
        let free = ProviderRates {
            cost_per_image: Decimal::ZERO,
            cost_per_second_video: Decimal::ZERO,
        };
        assert_eq!(CostEstimate::new(85, 600, free, free).total, dec!(0.10));
    }
}
