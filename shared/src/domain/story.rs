//! Story-level values: lifecycle status, aspect ratio and duration.

use super::{Invalid, string_enum};

/// Where a story is in its life; the legal moves are in [`super::state_machine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoryStatus {
    Draft,
    Planning,
    Planned,
    Previewing,
    Rendering,
    Completed,
    Failed,
    Archived,
}

string_enum!(StoryStatus {
    Draft => "draft",
    Planning => "planning",
    Planned => "planned",
    Previewing => "previewing",
    Rendering => "rendering",
    Completed => "completed",
    Failed => "failed",
    Archived => "archived",
});

impl StoryStatus {
    /// Whether the story's scenes and settings may still be edited.
    pub fn is_editable(self) -> bool {
        self == StoryStatus::Draft
    }
}

/// The frame shape of every image and clip of a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AspectRatio {
    #[default]
    Landscape,
    Portrait,
    Square,
    Classic,
    ClassicPortrait,
    Cinema,
}

string_enum!(AspectRatio {
    Landscape => "16:9",
    Portrait => "9:16",
    Square => "1:1",
    Classic => "4:3",
    ClassicPortrait => "3:4",
    Cinema => "21:9",
});

impl AspectRatio {
    /// Width and height of the ratio in lowest terms.
    pub fn parts(self) -> (u32, u32) {
        match self {
            AspectRatio::Landscape => (16, 9),
            AspectRatio::Portrait => (9, 16),
            AspectRatio::Square => (1, 1),
            AspectRatio::Classic => (4, 3),
            AspectRatio::ClassicPortrait => (3, 4),
            AspectRatio::Cinema => (21, 9),
        }
    }

    /// A frame size of this ratio whose longer side is `long_side` pixels, both sides
    /// even (H.264 with 4:2:0 chroma needs even dimensions).
    pub fn frame_size(self, long_side: u32) -> (u32, u32) {
        let (w, h) = self.parts();
        let even = |x: u32| x.max(2) & !1;
        if w >= h {
            (even(long_side), even(long_side * h / w))
        } else {
            (even(long_side * w / h), even(long_side))
        }
    }
}

/// A story's requested length in whole seconds, 1 ..= [`StoryDuration::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoryDuration(u32);

impl StoryDuration {
    /// Ten minutes: longer stories are refused rather than silently truncated.
    pub const MAX: u32 = 600;

    pub fn new(seconds: i64) -> Result<Self, Invalid> {
        if seconds < 1 {
            return Err(Invalid::new("must be at least 1 second"));
        }
        if seconds > i64::from(Self::MAX) {
            return Err(Invalid(format!("must be at most {} seconds", Self::MAX)));
        }
        Ok(Self(seconds as u32))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_wire_name() {
        for status in StoryStatus::ALL {
            assert_eq!(status.as_str().parse::<StoryStatus>(), Ok(*status));
        }
        let err = "done".parse::<StoryStatus>().unwrap_err();
        assert!(err.0.contains("expected one of: draft, planning"), "{err}");
    }

    #[test]
    fn frame_sizes_keep_the_ratio_and_are_even() {
        assert_eq!(AspectRatio::Landscape.frame_size(1280), (1280, 720));
        assert_eq!(AspectRatio::Portrait.frame_size(1280), (720, 1280));
        assert_eq!(AspectRatio::Square.frame_size(512), (512, 512));
        assert_eq!(AspectRatio::Cinema.frame_size(640), (640, 274));
        for ratio in AspectRatio::ALL {
            let (w, h) = ratio.frame_size(427);
            assert!(w % 2 == 0 && h % 2 == 0, "{ratio}: {w}x{h}");
        }
    }

    #[test]
    fn duration_bounds() {
        assert!(StoryDuration::new(0).is_err());
        assert!(StoryDuration::new(-5).is_err());
        assert_eq!(StoryDuration::new(1).map(StoryDuration::seconds), Ok(1));
        assert_eq!(StoryDuration::new(600).map(StoryDuration::seconds), Ok(600));
        assert!(StoryDuration::new(601).is_err());
        assert!(StoryDuration::new(i64::MAX).is_err());
    }
}
