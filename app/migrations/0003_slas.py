from tortoise import migrations
from tortoise.migrations import operations as ops
from app.slas.models import SlaKind, SlaState
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SlaPolicy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=200)),
                ('timezone', fields.CharField(max_length=64)),
                ('working_hours', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('holidays', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('warn_at_percent', fields.IntField(default=75)),
                ('targets', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sla_policies', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SlaTimer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='sla_timers', on_delete=OnDelete.CASCADE)),
                ('policy', fields.ForeignKeyField('models.SlaPolicy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='timers', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='RESPONSE: RESPONSE\nRESOLUTION: RESOLUTION', enum_type=SlaKind, max_length=16)),
                ('state', fields.CharEnumField(default=SlaState.RUNNING, description='RUNNING: RUNNING\nPAUSED: PAUSED\nMET: MET\nBREACHED: BREACHED\nCANCELLED: CANCELLED', enum_type=SlaState, max_length=16)),
                ('target_seconds', fields.IntField()),
                ('warn_at_percent', fields.IntField(default=75)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('consumed_seconds', fields.FloatField(default=0)),
                ('running_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('warn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('paused_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('breached_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('warned', fields.BooleanField(default=False)),
                ('breach_emitted', fields.BooleanField(default=False)),
            ],
            options={'table': 'sla_timers', 'app': 'models', 'unique_together': (('incident_id', 'kind'),), 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['state', 'stopped_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Service',
            name='sla_policy',
            field=fields.ForeignKeyField('models.SlaPolicy', source_field='sla_policy_id', null=True, db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.SET_NULL),
        ),
    ]
