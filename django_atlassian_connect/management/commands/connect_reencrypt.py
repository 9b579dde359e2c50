from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction

from django_atlassian_connect import crypto
from django_atlassian_connect.exceptions import SecretDecryptionError
from django_atlassian_connect.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first of ENCRYPTION_KEYS. Put the new "
        "key first, keep the old ones listed, run this, then remove the old keys."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="check that every value decrypts; write nothing"
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        total = 0
        try:
            for model in apps.get_models():
                for field in model._meta.concrete_fields:
                    if isinstance(field, EncryptedTextField):
                        total += self._rotate(model, field, dry_run)
        except SecretDecryptionError as exc:
            raise CommandError(str(exc)) from exc
        verb = "decrypt with the configured keys" if dry_run else "re-encrypted under the first key"
        self.stdout.write(self.style.SUCCESS(f"{total} value(s) {verb}."))

    def _rotate(self, model: Any, field: EncryptedTextField, dry_run: bool) -> int:
        # Raw SQL: the ORM would decrypt on read and encrypt on write.
        alias = router.db_for_write(model)
        connection = connections[alias]
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(str(field.column))
        pk = connection.ops.quote_name(model._meta.pk.column)
        count = 0
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            # Identifiers come from model metadata, quoted by the backend; values are parameters.
            cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
            for row_pk, ciphertext in cursor.fetchall():
                rotated = crypto.reencrypt(ciphertext)
                count += 1
                if not dry_run:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                        [rotated, row_pk],
                    )
        return count
