use time::OffsetDateTime;

use super::{from_unix_seconds, unix_seconds, Store, StoreError, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Store {
    pub async fn list_contacts(&self, owner: &UserId) -> Result<Vec<Contact>, StoreError> {
        let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, name, email, created_at FROM contacts WHERE owner_id = $1 ORDER BY created_at, id",
        )
        .bind(owner.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, name, email, created_at)| {
                Ok(Contact {
                    id,
                    name,
                    email,
                    created_at: from_unix_seconds(created_at)?,
                })
            })
            .collect()
    }

    pub async fn insert_contact(
        &self,
        owner: &UserId,
        name: &str,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Contact, StoreError> {
        // Version 7 ids sort by creation time, which orders contacts made
        // within one second.
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO contacts (id, owner_id, name, email, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(owner.as_str())
            .bind(name)
            .bind(email)
            .bind(unix_seconds(now))
            .execute(&self.pool)
            .await?;
        Ok(Contact {
            id,
            name: name.to_owned(),
            email: email.map(str::to_owned),
            created_at: from_unix_seconds(unix_seconds(now))?,
        })
    }
}
