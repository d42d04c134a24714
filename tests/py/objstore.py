#!/usr/bin/env python3
"""Independent GCS / Azure Blob client for the integration tests, against the emulators that
scripts/emulator.sh starts: fake-gcs-server through its own JSON API (urllib), Azurite through
Microsoft's azure-storage-blob SDK.

    objstore.py gcs|azure mkbucket NAME
    objstore.py gcs|azure keys NAME [PREFIX]              -> one object name per line
    objstore.py gcs|azure download NAME PREFIX DEST_DIR   -> every object under PREFIX into
                                                            DEST_DIR/<name>, one path per line
    objstore.py gcs|azure upload NAME KEY FILE
    objstore.py azure sas NAME [read-only]                -> a container SAS token (read, write,
                                                            delete, list; one hour)

Endpoints come from ETL_TEST_GCS_ENDPOINT and ETL_TEST_AZURE_ENDPOINT (Azurite's
http://127.0.0.1:PORT/devstoreaccount1, with its published development account key).
"""
import datetime
import json
import os
import sys
import urllib.parse
import urllib.request

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Gcs:
    def __init__(self):
        self.base = os.environ["ETL_TEST_GCS_ENDPOINT"].rstrip("/")

    def _get(self, url):
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()

    def mkbucket(self, name):
        req = urllib.request.Request(
            f"{self.base}/storage/v1/b",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=30).read()

    def keys(self, name, prefix=""):
        out, token = [], None
        while True:
            q = {"prefix": prefix}
            if token:
                q["pageToken"] = token
            page = json.loads(self._get(f"{self.base}/storage/v1/b/{name}/o?{urllib.parse.urlencode(q)}"))
            out.extend(o["name"] for o in page.get("items", []))
            token = page.get("nextPageToken")
            if not token:
                return sorted(out)

    def download(self, name, key, path):
        q = urllib.parse.quote(key, safe="")
        with open(path, "wb") as f:
            f.write(self._get(f"{self.base}/storage/v1/b/{name}/o/{q}?alt=media"))

    def upload(self, name, key, path):
        q = urllib.parse.urlencode({"uploadType": "media", "name": key})
        with open(path, "rb") as f:
            req = urllib.request.Request(
                f"{self.base}/upload/storage/v1/b/{name}/o?{q}", data=f.read(), method="POST"
            )
        urllib.request.urlopen(req, timeout=30).read()


class Azure:
    def __init__(self):
        from azure.storage.blob import BlobServiceClient

        self.endpoint = os.environ["ETL_TEST_AZURE_ENDPOINT"].rstrip("/")
        self.service = BlobServiceClient(
            self.endpoint, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        )

    def mkbucket(self, name):
        self.service.create_container(name)

    def keys(self, name, prefix=""):
        c = self.service.get_container_client(name)
        return sorted(b.name for b in c.list_blobs(name_starts_with=prefix or None))

    def download(self, name, key, path):
        with open(path, "wb") as f:
            f.write(self.service.get_blob_client(name, key).download_blob().readall())

    def upload(self, name, key, path):
        with open(path, "rb") as f:
            self.service.get_blob_client(name, key).upload_blob(f, overwrite=True)

    def sas(self, name, read_only=False):
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        write = not read_only
        return generate_container_sas(
            AZURITE_ACCOUNT,
            name,
            account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(read=True, write=write, delete=write, list=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
        )


def main(argv):
    store = {"gcs": Gcs, "azure": Azure}[argv[1]]()
    cmd, name = argv[2], argv[3]
    if cmd == "mkbucket":
        store.mkbucket(name)
    elif cmd == "keys":
        for k in store.keys(name, argv[4] if len(argv) > 4 else ""):
            print(k)
    elif cmd == "download":
        prefix, dest = argv[4], argv[5]
        for k in store.keys(name, prefix):
            path = os.path.join(dest, k)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            store.download(name, k, path)
            print(path)
    elif cmd == "upload":
        store.upload(name, argv[4], argv[5])
    elif cmd == "sas":
        print(store.sas(name, read_only=len(argv) > 4 and argv[4] == "read-only"))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
