import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { UserRole } from '../../entities';

registerEnumType(UserRole, { name: 'Role' });

@ObjectType('User')
export class UserType {
  @Field(() => ID)
  id!: string;

  @Field()
  email!: string;

  @Field({ description: 'IANA time zone; daily limits follow this day.' })
  timezone!: string;

  @Field(() => UserRole)
  role!: UserRole;
}
