import pytest

from hearth.memory import ids as memory_ids
from hearth.memory.ids import MemoryId


def test_each_kind_round_trips() -> None:
    made = [memory_ids.message(12), memory_ids.fact(3), memory_ids.summary(7), memory_ids.lore(0)]
    assert made == ["m12", "f3", "s7", "lore:0"]  # the form stored in notes and the index
    assert [memory_ids.parse(i) for i in made] == [
        MemoryId("message", 12), MemoryId("fact", 3), MemoryId("summary", 7), MemoryId("lore", 0)]
    assert [str(memory_ids.parse(i)) for i in made] == made


def test_numbers_picks_one_kind_in_order() -> None:
    mixed = ["m5", "f1", "m2", "s9", "lore:4", "m7"]
    assert memory_ids.numbers(mixed, "message") == [5, 2, 7]
    assert memory_ids.numbers(mixed, "lore") == [4]
    assert memory_ids.numbers([], "fact") == []


@pytest.mark.parametrize("bad", ["", "m", "x12", "m-1", "m1.5", "lore:", "lore2", "m١٢", " m1"])
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a memory id"):
        memory_ids.parse(bad)
