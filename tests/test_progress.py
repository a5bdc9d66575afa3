"""The progress bar: text in a terminal, a widget that leaves text behind in a notebook."""
from fusion_course.progress import Progress, in_notebook


def test_summary_line_counts_the_steps():
    bar = Progress(total=4, desc="demo", disable=True)
    for _ in range(4):
        bar.update()
    bar.set_info("loss 0.1")
    summary = bar.close()
    assert summary.startswith("demo: 4/4 in ") and summary.endswith(", loss 0.1")


def test_outside_a_notebook_it_is_a_text_bar(capsys):
    assert not in_notebook()
    bar = Progress(total=2, desc="text", min_interval=0.0)
    bar.update(2)
    bar.close()
    assert "text" in capsys.readouterr().err
