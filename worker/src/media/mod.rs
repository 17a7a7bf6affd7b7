//! Media with ffmpeg: keyframes and clips for the `local` provider, probing, and
//! joining scene clips into the preview and the final video.
//!
//! ffmpeg always runs as a child process awaited asynchronously, never on the
//! runtime's threads; dropping the future (a cancelled job) kills the child.

mod ffmpeg;
mod film;
mod narration;
mod render;
mod soundtrack;

pub use ffmpeg::{ClipInfo, Ffmpeg, MediaError};
pub use film::{Cut, Film, render_film};
pub use narration::{MAX_TEMPO, Said, SceneVoice};
pub use render::{JoinMode, Target, join_clips};
pub use soundtrack::{LOUDNESS_LUFS, MUSIC_LUFS, TRUE_PEAK_DBTP};
