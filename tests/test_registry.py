"""The registries: each entry is declared once; its implementation, named by its key, loads on first use."""

import pytest

from lpg_meta.data import DATASETS
from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS
from lpg_meta.models import MODELS
from lpg_meta.registry import Declaration, Registry

ENTRIES = [("method", name) for name in METHODS.names()] + [("dataset", name) for name in DATASETS.names()]


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_a_registered_class_is_named_by_its_key(kind, name):
    cls = (METHODS if kind == "method" else DATASETS).get(name)
    assert cls.name == name and vars(cls)["name"] == name  # on the class itself, not inherited


def test_the_decorator_names_classes_only_where_asked_and_refuses_a_second_entry():
    named, plain = Registry("thing", sets_name=True), Registry("thing")
    named.declare(Declaration("first", None, display_name="First thing"))
    plain.declare(Declaration("second", None))
    with pytest.raises(ValueError, match="not declared"):
        named.register("third")(type("Third", (), {}))

    @named.register("first")
    class First:
        pass

    @plain.register("second")
    class Second:
        pass

    assert First.name == "first" and not hasattr(Second, "name") and First.display_name == "First thing"
    assert named.get("first") is First and "first" in named and len(named) == 1
    with pytest.raises(ValueError, match="registered twice"):
        named.register("first")(Second)
    with pytest.raises(UserError, match="Did you mean 'first'"):
        named.get("firts")


def test_models_keep_their_classes_untouched():
    assert all("name" not in vars(MODELS.get(name)) for name in MODELS.names())
