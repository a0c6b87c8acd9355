use super::OpenFiles;
use std::path::Path;
use std::sync::Arc;

#[test]
fn a_file_is_opened_once_while_it_is_in_use_and_again_after() {
    let files = OpenFiles::default();
    let first = files.get_or_open(Path::new("a.db"), || Arc::new(1u32));
    let again = files.get_or_open(Path::new("a.db"), || Arc::new(2u32));
    assert!(Arc::ptr_eq(&first, &again), "the open file is shared");
    let other = files.get_or_open(Path::new("b.db"), || Arc::new(3u32));
    assert_eq!(*other, 3);
    let other_type = files.get_or_open(Path::new("a.db"), || Arc::new("text"));
    assert_eq!(*other_type, "text", "each type has its own files");
    drop((first, again));
    let reopened = files.get_or_open(Path::new("a.db"), || Arc::new(4u32));
    assert_eq!(*reopened, 4, "a file nobody uses is opened afresh");
}
