from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_problems_search')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Event',
            name='request_id',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
