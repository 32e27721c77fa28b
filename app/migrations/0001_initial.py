from tortoise import migrations
from tortoise.migrations import operations as ops
from app.auth.models import Role
from app.incidents.models import Impact, IncidentStatus, Priority, Urgency
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Counter',
            fields=[
                ('kind', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'counters', 'app': 'models', 'pk_attr': 'kind', 'table_description': 'One row per kind of numbered thing ("incident", "problem"): the last number given.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Service',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=200)),
                ('description', fields.TextField(null=True, unique=False)),
                ('public', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'services', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('role', fields.CharEnumField(description='VIEWER: VIEWER\nRESPONDER: RESPONDER\nMANAGER: MANAGER\nADMIN: ADMIN', enum_type=Role, max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_tokens', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.IntField(unique=True)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=IncidentStatus.NEW, description='NEW: NEW\nACKNOWLEDGED: ACKNOWLEDGED\nIN_PROGRESS: IN_PROGRESS\nON_HOLD: ON_HOLD\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nCANCELLED: CANCELLED', enum_type=IncidentStatus, max_length=16)),
                ('impact', fields.CharEnumField(description='HIGH: HIGH\nMEDIUM: MEDIUM\nLOW: LOW', enum_type=Impact, max_length=8)),
                ('urgency', fields.CharEnumField(description='HIGH: HIGH\nMEDIUM: MEDIUM\nLOW: LOW', enum_type=Urgency, max_length=8)),
                ('priority', fields.CharEnumField(description='P1: P1\nP2: P2\nP3: P3\nP4: P4\nP5: P5', enum_type=Priority, max_length=2)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.SET_NULL)),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_incidents', on_delete=OnDelete.SET_NULL)),
                ('resolution', fields.TextField(null=True, unique=False)),
                ('public', fields.BooleanField(default=False)),
                ('public_title', fields.CharField(null=True, max_length=200)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incidents', 'app': 'models', 'indexes': [Index(fields=['created_at', 'id']), Index(fields=['updated_at', 'id']), Index(fields=['priority', 'id']), Index(fields=['status', 'service_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('type', fields.CharField(db_index=True, max_length=64)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.SET_NULL)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('service_id', fields.IntField(null=True)),
                ('priority', fields.CharField(null=True, max_length=2)),
                ('from_status', fields.CharField(null=True, max_length=32)),
                ('to_status', fields.CharField(null=True, max_length=32)),
                ('note', fields.TextField(null=True, unique=False)),
                ('public', fields.BooleanField(default=False)),
                ('payload', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'events', 'app': 'models', 'indexes': [Index(fields=['incident_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
