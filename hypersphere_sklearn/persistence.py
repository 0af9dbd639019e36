"""Saving and loading models without pickle: tensors in safetensors, everything else in JSON.

A model file is one safetensors file. Its tensors are the weights (for a checkpoint also the
optimizer's state and the random-number generators'); its metadata holds one JSON document
with the estimator's class, hyperparameters, classes, preprocessing and training history, and
a SHA-256 digest of that document and of every tensor, so that a truncated or altered file is
refused with a clear error.

Loading reads data and never runs code from the file: estimator classes are looked up in a
fixed table of this library's estimators, optimizers by name in ``torch.optim``, and a
hyperparameter that JSON cannot hold (a custom backbone class, callbacks) is not stored at all:
``load`` says so and takes it as an argument instead. Pickle and joblib files, by contrast,
run whatever code they name when they are loaded.
"""

import hashlib
import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

__all__ = ["ModelFileError", "load", "save"]

FORMAT = "hypersphere-sklearn"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file that is not a complete, unaltered model file of this library."""


# -- the file ---------------------------------------------------------------------------------
def tensor_bytes(tensor):
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def digest(text, tensors):
    """SHA-256 of the JSON document and of every tensor's name, dtype, shape and bytes."""
    sha = hashlib.sha256(text.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        sha.update(f"\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        sha.update(tensor_bytes(tensor))
    return sha.hexdigest()


def write_model_file(path, document, tensors):
    """Write ``tensors`` and the JSON ``document`` to ``path`` atomically.

    The file is written beside ``path`` and renamed over it, so that an interruption never
    leaves a half-written model (or checkpoint) under the final name.
    """
    from safetensors.torch import save as to_safetensors

    tensors = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
    text = json.dumps(document, sort_keys=True)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "document": text,
                "sha256": digest(text, tensors)}
    data = to_safetensors(tensors, metadata=metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def read_model_file(path):
    """``(document, tensors)`` of a model file, after checking that it is whole and unaltered."""
    from safetensors import SafetensorError
    from safetensors.torch import load as from_safetensors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path}.")
    data = path.read_bytes()
    is_pickle = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if data[8:9] != b"{" and (is_pickle or data[:4] == b"PK\x03\x04"):  # torch.save: a zip
        raise ModelFileError(
            f"{path} is a pickle (joblib or torch.save) file, not a model file of this library: "
            "loading a pickle runs code from it, so load() never opens one. If you trust its "
            "source, load it with joblib and save it again with save()."
        )
    try:
        metadata = read_header(data).get("__metadata__") or {}
        tensors = from_safetensors(data)
    except (SafetensorError, ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{path} is not a complete model file ({error}): it may be truncated (an "
            "interrupted copy or download) or another kind of file. Save the model again "
            "with its save(path) method."
        ) from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not one written by hypersphere-sklearn's "
            "save(); load it with the tool that wrote it."
        )
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} has model-file format {version}; this version of hypersphere-sklearn "
            f"reads format {FORMAT_VERSION}. Upgrade hypersphere-sklearn to load it."
        )
    text = metadata.get("document", "")
    if metadata.get("sha256") != digest(text, tensors):
        raise ModelFileError(
            f"{path} was altered after it was saved: its contents do not match the checksum "
            "recorded in it. Do not use it; save the model again from its source."
        )
    return json.loads(text), tensors


def read_header(data):
    """The JSON header of safetensors bytes (the tensor table and ``__metadata__``)."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, too short for a header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError(f"the header claims {size} bytes but the file has {len(data) - 8}")
    header = json.loads(data[8:8 + size])
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


# -- values in JSON ---------------------------------------------------------------------------
class Unsaved:
    """Stands for a hyperparameter value that JSON cannot hold (a class, a callback)."""

    def __init__(self, description):
        self.description = description


def encode(value):
    """``value`` as JSON data, tagged so that :func:`decode` gives back the same type.

    Raises ``TypeError`` for a value that cannot be stored without pickle.
    """
    from .datasets import ImageLoader

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        return {"$array": encode_array(value)}
    if isinstance(value, ImageLoader):
        return {"$image_loader": encode(asdict(value))}
    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        if getattr(torch.optim, value.__name__, None) is value:
            return {"$optimizer": value.__name__}
    if value is torch.utils.data.DataLoader:
        return {"$dataloader": True}
    raise TypeError(f"{type(value).__name__} {value!r:.80} cannot be stored without pickle")


def encode_array(array):
    if array.dtype.kind in "biufU":
        return {"dtype": array.dtype.str, "shape": list(array.shape),
                "values": array.reshape(-1).tolist()}
    if array.dtype == object:
        values = array.reshape(-1).tolist()
        if all(isinstance(v, (str, int, float, bool)) for v in values):
            return {"dtype": "object", "shape": list(array.shape), "values": values}
    raise TypeError(f"an array of dtype {array.dtype} holding "
                    f"{sorted({type(v).__name__ for v in array.reshape(-1).tolist()})} values "
                    "cannot be stored without pickle; use string or integer labels")


def decode(value):
    """The inverse of :func:`encode`; anything but the known tags and plain data is refused."""
    from .datasets import ImageLoader

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ModelFileError(f"unexpected entry {value!r:.80} in the model file")
    (tag, content), = value.items()
    if tag == "$tuple":
        return tuple(decode(v) for v in content)
    if tag == "$dict":
        return {k: decode(v) for k, v in content.items()}
    if tag == "$array":
        dtype = object if content["dtype"] == "object" else np.dtype(content["dtype"])
        return np.array(content["values"], dtype=dtype).reshape(content["shape"])
    if tag == "$image_loader":
        try:
            return ImageLoader(**decode(content))
        except TypeError as error:
            raise ModelFileError(f"malformed image_loader in the model file: {error}") from None
    if tag == "$optimizer":
        optimizer = getattr(torch.optim, str(content), None)
        if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
            raise ModelFileError(f"unknown optimizer {content!r} in the model file")
        return optimizer
    if tag == "$dataloader":
        return torch.utils.data.DataLoader
    if tag == "$unsaved":
        return Unsaved(content)
    raise ModelFileError(f"unexpected entry {tag!r} in the model file")


def encode_params(params):
    """Hyperparameters as JSON; those JSON cannot hold are recorded as not saved."""
    encoded = {}
    for name, value in params.items():
        try:
            encoded[name] = encode(value)
        except TypeError:
            kind = value if isinstance(value, type) else type(value)
            encoded[name] = {"$unsaved": f"{kind.__module__}.{kind.__qualname__}"}
    return encoded


# -- estimators -------------------------------------------------------------------------------
def loadable_classes():
    """The classes a model file may name: this library's estimators, and nothing else."""
    from . import embedders
    from .verification import CosineVerifier

    classes = [getattr(embedders, name) for name in embedders.__all__] + [CosineVerifier]
    return {cls.__name__: cls for cls in classes
            if isinstance(cls, type) and hasattr(cls, "import_state")}


def estimator_entry(estimator, tensors, prefix, training_state):
    """The JSON entry of one estimator; its tensors go into ``tensors`` under ``prefix``."""
    from .ensemble import EnsembleEmbedder

    if isinstance(estimator, EnsembleEmbedder):
        raise TypeError(
            "save() stores single embedders: save an EnsembleEmbedder's networks one by one "
            "(ensemble.estimators_[i].save(path)), or the whole ensemble with joblib (and load "
            "such files only from sources you trust)."
        )
    if type(estimator).__name__ not in loadable_classes():
        raise TypeError(
            f"save() stores this library's embedders, CosineVerifier and pipelines of them; "
            f"got {type(estimator).__name__}. Use joblib for other estimators (and load such "
            "files only from sources you trust)."
        )
    entry = {"class": type(estimator).__name__,
             "params": encode_params(estimator.get_params(deep=False))}
    if hasattr(estimator, "export_state") and is_fitted(estimator):
        attributes, own = estimator.export_state(training_state=training_state)
        entry["fitted"] = attributes
        tensors.update({prefix + name: t for name, t in own.items()})
    return entry


def is_fitted(estimator):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def build_estimator(entry, tensors, prefix, overrides, path):
    classes = loadable_classes()
    if entry.get("class") not in classes:
        raise ModelFileError(f"{path} names an estimator class {entry.get('class')!r} that "
                             "this library does not have.")
    cls = classes[entry["class"]]
    params, missing = {}, []
    for name, value in entry["params"].items():
        value = decode(value)
        if isinstance(value, Unsaved) and name not in overrides:
            missing.append((name, value.description))
        elif not isinstance(value, Unsaved):
            params[name] = value
    if any(name == "backbone" or name.startswith("backbone__") for name, _ in missing):
        described = ", ".join(f"{name}={what}" for name, what in missing)
        raise ValueError(
            f"{path} was saved with a backbone the file cannot describe ({described}): pass "
            "the same one when loading, e.g. load(path, backbone=MyNet). A model file never "
            "names code to import."
        )
    if missing:
        warnings.warn(
            f"{path}: {', '.join(f'{name} ({what})' for name, what in missing)} could not be "
            "stored in the file and are back at their defaults; pass them to load() to set "
            "them.", UserWarning, stacklevel=4)
    device = params.get("device")
    if (isinstance(device, str) and device.startswith("cuda") and "device" not in overrides
            and not torch.cuda.is_available()):
        warnings.warn(f"{path} was saved with device={device!r}, which this machine lacks; "
                      "loading on the CPU (pass device=... to choose).", UserWarning,
                      stacklevel=4)
        params["device"] = "cpu"
    estimator = cls(**{**params, **overrides})
    if "fitted" in entry:
        own = {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}
        estimator.import_state(entry["fitted"], own, path)
    return estimator


def save(model, path, *, training_state=False):
    """Save an embedder, a CosineVerifier, or a Pipeline of them, in the safe format.

    Parameters
    ----------
    model : estimator or sklearn.pipeline.Pipeline
        Fitted or not. Hyperparameters JSON cannot hold (a custom backbone class, callbacks,
        a RandomState) are left out; :func:`load` says which and takes them as arguments.
    path : str or path-like
        The file to write (``.safetensors`` is a good suffix). Written atomically.
    training_state : bool, default=False
        Also store the optimizer's state, the random-number generators' and the gradient
        scaler's, so that ``partial_fit`` (or ``fit`` with ``warm_start=True``) continues
        exactly where training stopped. Checkpoints store it; a model to share needs not.

    Returns
    -------
    pathlib.Path
        The path written.

    See Also
    --------
    load : the inverse.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from hypersphere_sklearn import CosineVerifier, load, save
    >>> verifier = CosineVerifier().fit(np.eye(4), ["a", "a", "b", "b"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "verifier.safetensors"
    >>> _ = save(verifier, path)
    >>> load(path).predict(np.eye(4)).tolist()
    ['a', 'a', 'b', 'b']
    """
    from sklearn.pipeline import Pipeline

    tensors = {}
    if isinstance(model, Pipeline):
        document = {"kind": "pipeline", "verbose": bool(model.verbose), "steps": [
            {"name": name, **estimator_entry(step, tensors, f"{k}.", training_state)}
            for k, (name, step) in enumerate(model.steps)
        ]}
    else:
        document = {"kind": "estimator", **estimator_entry(model, tensors, "", training_state)}
    return write_model_file(path, document, tensors)


def load(path, **params):
    """Load what :func:`save` wrote: nothing from the file is imported or executed.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save` (or an estimator's ``save`` method, or a checkpoint).
    **params
        Hyperparameters to set instead of the stored ones, as for ``set_params``: e.g.
        ``device="cpu"``, or ``backbone=MyNet`` for a model saved with a custom backbone
        class; for a pipeline, ``embed__device="cpu"``.

    Returns
    -------
    estimator or sklearn.pipeline.Pipeline

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        (a ``ValueError``) The file is truncated, altered since it was saved, not a model
        file of this library, a pickle, or of a newer format.

    See Also
    --------
    save : the inverse; its example loads what it saved.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from hypersphere_sklearn import NormFaceEmbedder, load, save
    >>> path = save(NormFaceEmbedder(scale=20.0), pathlib.Path(tempfile.mkdtemp()) / "m.st")
    >>> load(path, device="cpu")
    NormFaceEmbedder(device='cpu', scale=20.0)
    """
    from sklearn.pipeline import Pipeline

    document, tensors = read_model_file(path)
    try:
        if document["kind"] == "pipeline":
            names = [entry["name"] for entry in document["steps"]]
            stray = [key for key in params if key.split("__", 1)[0] not in names
                     or "__" not in key]
            if stray:
                raise ValueError(f"{path} holds a pipeline of steps {names}: name the step of "
                                 f"each parameter, as in {names[0]}__device='cpu'; got {stray}.")
            steps = []
            for k, entry in enumerate(document["steps"]):
                own = {key.split("__", 1)[1]: value for key, value in params.items()
                       if key.split("__", 1)[0] == entry["name"]}
                steps.append((entry["name"], build_estimator(entry, tensors, f"{k}.", own,
                                                             path)))
            return Pipeline(steps, verbose=document["verbose"])
        return build_estimator(document, tensors, "", params, path)
    except KeyError as error:
        raise ModelFileError(f"{path} lacks the model information {error} (the file was not "
                             "written by save()).") from None


class SavableMixin:
    """``save(path)`` and ``load(path)`` in the safe format, for this library's estimators."""

    def save(self, path, *, training_state=False):
        """Save the estimator to ``path`` without pickle; see :func:`hypersphere_sklearn.save`.

        Returns
        -------
        pathlib.Path
        """
        return save(self, path, training_state=training_state)

    @classmethod
    def load(cls, path, **params):
        """Load an estimator of this class saved with ``save``; see
        :func:`hypersphere_sklearn.load`. Nothing from the file is executed."""
        model = load(path, **params)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}; "
                            "load it with hypersphere_sklearn.load(path).")
        return model
