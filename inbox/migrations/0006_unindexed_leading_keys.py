"""Foreign keys that lead a composite index lose their own single-column index: the composite
one answers every lookup by that key, and every index dropped is one less to update for each
row the way in inserts.

And the channel table is analysed after any change: it holds a handful of rows, fewer than
autovacuum's default threshold of changes, so without this the planner never learns how the
channels divide among platforms and filters the conversation list by platform with a scan of
every conversation (25 ms instead of 1 ms at 100,000 conversations).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def analyse_channels_often(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE inbox_channel SET (autovacuum_analyze_threshold = 1)")
        schema_editor.execute("ANALYZE inbox_channel")


def analyse_channels_by_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE inbox_channel RESET (autovacuum_analyze_threshold)")


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_message_search"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(analyse_channels_often, analyse_channels_by_default, elidable=False),
        migrations.AlterField(
            model_name="attachment",
            name="message",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attachments",
                to="inbox.message",
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="conversations",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="conversationalias",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="inboundevent",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="inbound_events",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="inboundrequest",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="inbound_requests",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="conversation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="inbox.conversation",
            ),
        ),
        migrations.AlterField(
            model_name="messagestatusevent",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="inbox.channel",
            ),
        ),
        migrations.AlterField(
            model_name="participant",
            name="conversation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="participants",
                to="inbox.conversation",
            ),
        ),
        migrations.AlterField(
            model_name="readstate",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="read_states",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="message",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="recipients",
                to="inbox.message",
            ),
        ),
    ]
