use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// Starts a task that finishes its work once told to stop; answers whether it has.
fn spawn_worker(tasks: &Tasks) -> Arc<AtomicBool> {
    let finished = Arc::new(AtomicBool::new(false));
    let (token, done) = (tasks.shutdown_token().clone(), finished.clone());
    tasks.spawn("worker", async move {
        token.cancelled().await;
        done.store(true, Ordering::SeqCst);
    });
    finished
}

#[tokio::test]
async fn shutdown_stops_the_tasks_and_waits_for_them_to_finish() {
    let tasks = Tasks::new("test");
    let finished = spawn_worker(&tasks);
    tasks.shutdown().await;
    assert!(finished.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_task_that_ignores_the_token_is_aborted_after_the_grace() {
    let tasks = Tasks::new("test").with_grace(Duration::from_millis(20));
    let dropped = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = SetOnDrop(dropped.clone());
    tasks.spawn("stubborn", async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    tasks.shutdown().await;
    assert!(dropped.load(Ordering::SeqCst), "the stubborn task was aborted");
}

#[tokio::test]
async fn a_panicking_task_does_not_stop_the_others() {
    let tasks = Tasks::new("test");
    tasks.spawn("panics", async { panic!("on purpose") });
    let finished = spawn_worker(&tasks);
    tasks.shutdown().await;
    assert!(finished.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_task_runs_on_when_the_last_handle_to_its_set_is_dropped() {
    let tasks = Tasks::new("test");
    let token = tasks.shutdown_token().clone();
    let (ask, mut asked) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(1);
    tasks.spawn("echo", async move {
        while let Some(reply) = asked.recv().await {
            let _ = reply.send(());
        }
    });
    drop(tasks);
    let (reply, answer) = tokio::sync::oneshot::channel();
    ask.send(reply).await.expect("the task still receives");
    answer.await.expect("the task still answers");
    token.cancel();
}

#[tokio::test]
async fn join_returns_once_every_task_ended_without_a_shutdown() {
    let tasks = Tasks::new("test");
    tasks.spawn("short", async {});
    tasks.join().await;
    assert!(!tasks.is_stopping());
}

#[tokio::test]
async fn spawn_until_shutdown_ends_work_that_never_looks_at_the_token() {
    let tasks = Tasks::new("test").with_grace(Duration::from_secs(3600));
    tasks.spawn_until_shutdown("forever", std::future::pending());
    // Not after the hour of grace: the task stopped when told to.
    let stopped = tokio::time::timeout(Duration::from_secs(30), tasks.shutdown()).await;
    assert!(stopped.is_ok(), "the task did not stop on shutdown");
}
