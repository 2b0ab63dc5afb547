"""The resource namespaces of :class:`~boxtui.client.BoxClient` (``client.boxes``, ``client.events``…)."""

from boxtui.client.resources.auth import AuthResource
from boxtui.client.resources.boxes import BoxesResource
from boxtui.client.resources.events import EventsResource
from boxtui.client.resources.files import FilesResource
from boxtui.client.resources.identities import IdentitiesResource
from boxtui.client.resources.keys import KeysResource
from boxtui.client.resources.saved_files import SavedFilesResource

__all__ = [
    "AuthResource",
    "BoxesResource",
    "EventsResource",
    "FilesResource",
    "IdentitiesResource",
    "KeysResource",
    "SavedFilesResource",
]
