use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::{GroupCommit, GroupFailed};

type WriteFuture = std::pin::Pin<Box<dyn Future<Output = Result<Vec<u32>, GroupFailed>> + Send>>;

/// Writes that record each group they were given and answer each item doubled, refusing any
/// group holding 13; each waits for a permit of `gate` first, so a test decides when a write ends.
#[derive(Clone)]
struct Recorder {
    groups: Arc<Mutex<Vec<Vec<u32>>>>,
    gate: Arc<Semaphore>,
}

impl Recorder {
    fn new() -> Self {
        Self {
            groups: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        }
    }

    fn write(&self) -> impl Fn(Vec<u32>) -> WriteFuture + Send + use<> {
        let recorder = self.clone();
        move |items: Vec<u32>| {
            let recorder = recorder.clone();
            Box::pin(async move {
                recorder.gate.acquire().await.expect("the gate stays open").forget();
                recorder.groups.lock().unwrap().push(items.clone());
                if items.contains(&13) {
                    return Err(GroupFailed("13 is refused".into()));
                }
                Ok(items.iter().map(|item| item * 2).collect())
            })
        }
    }

    fn groups(&self) -> Vec<Vec<u32>> {
        self.groups.lock().unwrap().clone()
    }
}

/// Submits each of `items` from a task of its own (a plain one: these callers stand for requests,
/// not service tasks), the first alone, and lets every task run up to
/// its wait, so all but the first are queued while the first one's write holds the turn.
async fn submit_while_one_writes(
    group: &Arc<GroupCommit<u32, u32>>,
    recorder: &Recorder,
    items: &[u32],
) -> Vec<tokio::task::JoinHandle<Result<u32, GroupFailed>>> {
    let mut tasks = Vec::new();
    for item in items {
        let (group, write) = (group.clone(), recorder.write());
        let item = *item;
        #[allow(clippy::disallowed_methods)]
        tasks.push(tokio::spawn(async move { group.submit(item, write).await }));
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    tasks
}

async fn answers(tasks: Vec<tokio::task::JoinHandle<Result<u32, GroupFailed>>>) -> Vec<Result<u32, String>> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(
            task.await
                .expect("no panic")
                .map_err(|GroupFailed(why)| why.to_string()),
        );
    }
    answers
}

#[tokio::test]
async fn callers_of_the_same_moment_share_one_write_and_each_gets_its_own_answer() {
    let group = Arc::new(GroupCommit::new(256));
    let recorder = Recorder::new();
    let tasks = submit_while_one_writes(&group, &recorder, &[1, 2, 3, 4, 5, 6]).await;
    recorder.gate.add_permits(2);
    let answers = answers(tasks).await;
    assert_eq!(answers, [2, 4, 6, 8, 10, 12].map(Ok));
    assert_eq!(
        recorder.groups(),
        [vec![1], vec![2, 3, 4, 5, 6]],
        "one write alone, then one for the rest"
    );
}

#[tokio::test]
async fn a_group_that_fails_answers_its_error_to_each_of_its_callers_and_no_other() {
    let group = Arc::new(GroupCommit::new(256));
    let recorder = Recorder::new();
    let tasks = submit_while_one_writes(&group, &recorder, &[1, 12, 13, 14]).await;
    recorder.gate.add_permits(2);
    let refused = Err("13 is refused".to_owned());
    assert_eq!(answers(tasks).await, [Ok(2), refused.clone(), refused.clone(), refused]);

    // The next group writes as if nothing happened.
    recorder.gate.add_permits(1);
    assert_eq!(group.submit(7, recorder.write()).await.map_err(|e| e.0), Ok(14));
}

#[tokio::test]
async fn no_group_is_larger_than_its_max() {
    let group = Arc::new(GroupCommit::new(3));
    let recorder = Recorder::new();
    let items: Vec<u32> = (1..=8).collect();
    let tasks = submit_while_one_writes(&group, &recorder, &items).await;
    recorder.gate.add_permits(8);
    let answers = answers(tasks).await;
    assert_eq!(answers, items.iter().map(|item| Ok(item * 2)).collect::<Vec<_>>());
    assert_eq!(recorder.groups(), [vec![1], vec![2, 3, 4], vec![5, 6, 7], vec![8]]);
}

#[tokio::test]
async fn a_write_answering_the_wrong_count_fails_its_group() {
    let group: GroupCommit<u32, u32> = GroupCommit::new(8);
    let answered = group
        .submit(1, |_items| async { Ok(vec![1, 2]) })
        .await
        .map_err(|GroupFailed(why)| why.to_string());
    assert_eq!(answered, Err("a group of 1 was answered 2 times".to_owned()));
}

#[tokio::test]
async fn a_caller_that_goes_away_leaves_its_group_written() {
    let group = Arc::new(GroupCommit::new(256));
    let recorder = Recorder::new();
    let tasks = submit_while_one_writes(&group, &recorder, &[1, 2]).await;
    // The first caller, whose write holds the turn, is dropped mid-write.
    tasks[0].abort();
    recorder.gate.add_permits(2);
    let second = tasks.into_iter().nth(1).unwrap().await.expect("no panic");
    assert_eq!(second.map_err(|e| e.0), Ok(4));
    assert_eq!(recorder.groups(), [vec![1], vec![2]]);
}
