"""The glance_store driver: Glance's images live in a nitro repository as ``nitro://IMAGE_ID``.

Each operation runs the nitro command; the deduplication, the transfers between sites and the
checks all happen there.
"""

import logging

from oslo_config import cfg

from glance_store import capabilities
from glance_store import driver
from glance_store import exceptions
from glance_store import location
from glance_store.common import utils

from nitro_glance.command import INCOMPLETE, ExportStream, Nitro, NitroFailed, store_error

LOG = logging.getLogger(__name__)

SCHEME = "nitro"

_OPTIONS = [
    cfg.StrOpt(
        "nitro_command",
        default="nitro",
        help="The nitro command, split like a shell would (e.g. 'node /opt/nitro/bin/nitro.js').",
    ),
    cfg.StrOpt(
        "nitro_repo",
        help="The nitro repository of this site (nitro's --repo). "
        "Default: $NITRO_HOME, else ~/.nitro.",
    ),
    cfg.ListOpt(
        "nitro_push_to",
        default=[],
        help="Sites (names from 'nitro site ls') each new image is pushed to after its upload.",
    ),
    cfg.BoolOpt(
        "nitro_pull_on_read",
        default=True,
        help="When an image is known here only by its recipe, pull its chunks from the other sites "
        "on first read.",
    ),
]


class StoreLocation(location.StoreLocation):
    """``nitro://IMAGE``: the name of the image in the repository (Glance's image id)."""

    def process_specs(self):
        self.scheme = SCHEME
        self.image = self.specs.get("image")

    def get_uri(self):
        return "%s://%s" % (SCHEME, self.image)

    def parse_uri(self, uri):
        self.validate_schemas(uri, valid_schemas=("%s://" % SCHEME,))
        self.scheme = SCHEME
        self.image = uri[len("%s://" % SCHEME):].strip("/")
        if not self.image or "/" in self.image:
            raise exceptions.BadStoreUri(message="expected nitro://IMAGE, got %s" % uri)


class Store(driver.Store):
    _CAPABILITIES = (
        capabilities.BitMasks.READ_RANDOM
        | capabilities.BitMasks.WRITE_ACCESS
        | capabilities.BitMasks.DRIVER_REUSABLE
    )
    OPTIONS = _OPTIONS

    def get_schemes(self):
        return (SCHEME,)

    def _options(self):
        if self.backend_group:
            return getattr(self.conf, self.backend_group)
        return self.conf.glance_store

    @property
    def nitro(self):
        options = self._options()
        return Nitro(options.nitro_command, options.nitro_repo)

    def configure_add(self):
        try:
            self.nitro.run("--version")
        except (OSError, NitroFailed) as e:
            reason = "cannot run nitro: %s" % e
            raise exceptions.BadStoreConfiguration(store_name=SCHEME, reason=reason)

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        """Streams ``nitro export -o -`` from offset, chunk_size bytes (all by default).

        An image known here by its recipe only is pulled from the other sites: the whole image is
        streamed by ``nitro pull -o -`` while it is fetched; a range is pulled first, then exported.
        If no site holds some of its chunks, this raises NotFound before any byte is returned.
        """
        image = location.store_location.image
        try:
            size = chunk_size if chunk_size is not None else self._size(image) - offset
            try:
                stream = self.nitro.export(image, offset, chunk_size, self.READ_CHUNKSIZE)
            except NitroFailed as e:
                if e.code != INCOMPLETE or not self._options().nitro_pull_on_read:
                    raise
                LOG.info("nitro: image %s is not complete at this site; pulling it", image)
                if not offset and chunk_size is None:
                    argv = self.nitro.argv("--quiet", "pull", image, "-o", "-")
                    stream = ExportStream(argv, self.READ_CHUNKSIZE)
                else:
                    self.nitro.run("--quiet", "pull", image)
                    stream = self.nitro.export(image, offset, chunk_size, self.READ_CHUNKSIZE)
        except NitroFailed as e:
            raise store_error(e, image)
        return iter(stream), size

    def get_size(self, location, context=None):
        image = location.store_location.image
        try:
            return self._size(image)
        except NitroFailed as e:
            raise store_error(e, image)

    def _size(self, image):
        return int(self.nitro.info(image)["size"])

    @driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo, context=None, verifier=None):
        """Streams the upload into ``nitro add - --name IMAGE_ID``, hashing it on the way, then
        pushes it to the configured sites."""
        multihash = utils.get_hasher(hashing_algo, False)
        md5 = utils.get_hasher("md5", False)

        def blocks():
            for block in utils.chunkreadable(image_file, self.WRITE_CHUNKSIZE):
                multihash.update(block)
                md5.update(block)
                if verifier:
                    verifier.update(block)
                yield block

        image = str(image_id)
        try:
            size = self.nitro.add(image, blocks())
        except NitroFailed as e:
            raise store_error(e, image)
        self._push(image)
        metadata = {"store": self.backend_group} if self.backend_group else {}
        return "%s://%s" % (SCHEME, image), size, md5.hexdigest(), multihash.hexdigest(), metadata

    def _push(self, image):
        """A failed push leaves the image stored here (Glance keeps it); re-running the push later
        sends what is missing."""
        sites = self._options().nitro_push_to
        if not sites:
            return
        try:
            self.nitro.run("--quiet", "push", image, "--to", ",".join(sites))
        except NitroFailed as e:
            LOG.warning(
                "nitro: image %s stored here but not pushed to %s: %s", image, ",".join(sites), e
            )

    @capabilities.check
    def delete(self, location, context=None):
        """Removes the image's recipe here; ``nitro gc`` later reclaims chunks no image uses."""
        image = location.store_location.image
        try:
            self.nitro.run("--quiet", "rm", image)
        except NitroFailed as e:
            raise store_error(e, image)
