from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_ops')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('address', fields.CharField(null=True, max_length=64)),
                ('operation', fields.CharField(max_length=100)),
                ('target', fields.CharField(null=True, max_length=200)),
                ('outcome', fields.CharField(max_length=40)),
            ],
            options={'table': 'audit_entries', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
