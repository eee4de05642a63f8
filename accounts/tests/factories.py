import factory

from accounts.models import CareRelationship, Role, User

TEST_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    role = Role.PATIENT
    is_active = True

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or TEST_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class PatientFactory(UserFactory):
    role = Role.PATIENT


class DoctorFactory(UserFactory):
    role = Role.DOCTOR


class NurseFactory(UserFactory):
    role = Role.NURSE


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True


class CareRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareRelationship

    patient = factory.SubFactory(PatientFactory)
    provider = factory.SubFactory(DoctorFactory)
    kind = CareRelationship.Kind.ASSIGNMENT
