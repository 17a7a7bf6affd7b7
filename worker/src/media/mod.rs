//! Media with ffmpeg: keyframes and clips for the `local` provider, probing, and
//! joining scene clips into the preview and the final video.
//!
//! ffmpeg always runs as a child process awaited asynchronously, never on the
//! runtime's threads; dropping the future (a cancelled job) kills the child.

mod ffmpeg;
mod narration;
mod render;

pub use ffmpeg::{ClipInfo, Ffmpeg, MediaError};
pub use narration::{
    Finish, LOUDNESS_LUFS, MAX_TEMPO, Narrated, SceneVoice, TRUE_PEAK_DBTP, narrate,
};
pub use render::{JoinMode, Target, join_clips, join_with_transitions};
