from tortoise import migrations
from tortoise.migrations import operations as ops
from app.problems.models import ProblemStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_slas')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Problem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.IntField(unique=True)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=ProblemStatus.NEW, description='NEW: NEW\nINVESTIGATING: INVESTIGATING\nKNOWN_ERROR: KNOWN_ERROR\nRESOLVED: RESOLVED\nCLOSED: CLOSED', enum_type=ProblemStatus, max_length=16)),
                ('root_cause', fields.TextField(null=True, unique=False)),
                ('workaround', fields.TextField(null=True, unique=False)),
                ('resolution', fields.TextField(null=True, unique=False)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_constraint=True, to_field='id', related_name='problems', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'problems', 'app': 'models', 'indexes': [Index(fields=['created_at', 'id']), Index(fields=['status', 'service_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProblemIncident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('problem', fields.ForeignKeyField('models.Problem', source_field='problem_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('incident', fields.OneToOneField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='problem_link', on_delete=OnDelete.CASCADE)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'problem_incidents', 'app': 'models', 'indexes': [Index(fields=['problem_id', 'incident_id'])], 'pk_attr': 'id', 'table_description': 'The link of one incident to its problem. The unique incident_id keeps it to one.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Event',
            name='problem',
            field=fields.ForeignKeyField('models.Problem', source_field='problem_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE),
        ),
    ]
