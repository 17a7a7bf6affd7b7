//! `ai-video-worker`: consumes the job queue. Not built yet; the API queues jobs
//! that a worker will run.

fn main() {
    eprintln!("ai-video-worker: the worker is not part of this release yet");
    std::process::exit(2);
}
